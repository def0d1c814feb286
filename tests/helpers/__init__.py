"""The test suite's helpers, one module per subject, imported as ``tests.helpers.<module>``
(the project root is on ``sys.path``: pyproject's ``pythonpath``). Fixtures are in
``tests/conftest.py``."""
