"""The terminal app. Import :func:`lookalike.ui.app.make_app`; this package stays light so that
``import lookalike.ui`` alone does not pull Textual in."""
