"""Exit codes of ``lookalike scan --no-ui``, in one place (documented in docs/cli.md)."""

OK = 0  # scan finished, every file read
USAGE = 2  # bad command line (click's own code)
FILE_ERRORS = 3  # scan finished, but some files could not be read (see "errors")
FATAL = 4  # nothing useful was produced: catalog or output could not be opened
INTERRUPTED = 130  # Ctrl-C; what was computed so far stays in the catalog
