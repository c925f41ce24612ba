"""Developer tools: state-test runner, benchmark runner, differential fuzzer."""
