from tests.testing_results.conftest import clean_checks, heroin, record, vocab  # noqa: F401 - batches checked clean
