"""Before anything leaves: the automated checks (`verification`, `output_checks`), the
QC of unique values and the review rounds, the contact sheet, the reviewers' decisions,
sign-off and release, and the audit database. The top layer; needs the server's
dependencies (DuckDB, Pillow, ahocorasick-rs), which a hospital's stage 1 never imports."""
