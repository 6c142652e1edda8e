"""The --no-ui runner: results on stdout (or -o), progress and diagnostics on stderr.

Never imports textual or textual_image (a test proves it).
"""
