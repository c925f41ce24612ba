"""Build configuration of the C extensions (the pricing kernel, bit-identical to the Python
reference kernel; the alt_bn128 arithmetic of precompiles 0x06-0x08, equal to py_ecc; the
code analysis of both engines, equal to vm/analysis.py; the Python code stays the fallback
of each); everything else is in pyproject.toml."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "strikevm.finance._bsm_native",
            sources=["src/strikevm/finance/_bsm_native.c"],
            extra_compile_args=["-O3", "-std=c11"],
            optional=False,
        ),
        Extension(
            "strikevm.vm.precompiles._bn254_native",
            sources=["src/strikevm/vm/precompiles/_bn254_native.c"],
            extra_compile_args=["-O3", "-std=c11"],
            optional=False,
        ),
        Extension(
            "strikevm.vm._analysis_native",
            sources=["src/strikevm/vm/_analysis_native.c"],
            extra_compile_args=["-O3", "-std=c11"],
            optional=False,
        ),
    ]
)
