"""Build configuration of the C pricing kernel (bit-identical to the Python reference kernel,
which stays the fallback); everything else is in pyproject.toml."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "strikevm.finance._bsm_native",
            sources=["src/strikevm/finance/_bsm_native.c"],
            extra_compile_args=["-O3", "-std=c11"],
            optional=False,
        )
    ]
)
