"""One file's bytes: element offsets parsed straight from them (`rawparse`), strict
reading and writing with pydicom (`dicomfile`), and what the pixels mean
(`pixel_meaning`). The lowest layer: it imports no other part of the engine."""
