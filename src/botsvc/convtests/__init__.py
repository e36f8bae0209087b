"""`botsvc test`: conversation tests in YAML, run against the real service.

format.py        the test files' format, loading with file:line, and the report
expectations.py  checking one turn against what the test expects
runner.py        running a project's tests through ChatService on a throwaway SQLite store
"""
