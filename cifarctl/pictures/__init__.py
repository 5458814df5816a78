"""Pictures: image grids with captions (preview, predict, mistakes) and matplotlib figures
(training curves, confusion matrices), all written as PNG files atomically."""
