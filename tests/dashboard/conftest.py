from tests.exports.conftest import vocab, world  # noqa: F401 - the same programme history
