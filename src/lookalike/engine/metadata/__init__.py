"""What a file says about itself (EXIF, XMP, IPTC, ICC, text chunks, streams): read it
(:mod:`.info`), normalise the fields worth keeping (:mod:`.fields`) and write them to a keeper
(:mod:`.write`) when a copy goes. Reading and writing go through pyexiv2 (libexiv2 in its wheel)
on bytes in memory, so any file name works and no metadata writer is hand-made here."""
