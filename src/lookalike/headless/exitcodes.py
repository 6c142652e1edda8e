"""Exit codes of ``lookalike scan --no-ui``, in one place (documented in docs/cli.md)."""

OK = 0  # scan finished, every file read
USAGE = 2  # bad command line (click's own code), e.g. a PATH that does not exist
FILE_ERRORS = 3  # scan finished, but some files could not be read (see "errors")
FATAL = 4  # nothing useful was produced: catalog damaged or unusable, output not writable
BUSY = 5  # another scan is running on the same catalog (use --wait to wait for it)
INTERRUPTED = 130  # Ctrl-C; what was computed so far stays in the catalog
BROKEN_PIPE = 141  # stdout was closed early (``lookalike … | head``): 128 + SIGPIPE, quietly
