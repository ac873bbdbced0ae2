# A package, so that pytest imports tests/browser/conftest.py as browser.conftest: the other test files import
# tests/conftest.py as plain `conftest`, and a second module of that name would shadow it.
