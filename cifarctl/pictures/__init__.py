"""Pictures: captioned image grids and matplotlib figures, all written as PNG files atomically.

Image grids with captions (preview, predict, mistakes), heatmaps over images beside their top
classes (`heatmaps.py`: `--explain`) and matplotlib figures (training curves, confusion
matrices, a tuning study's history: `tuning_plots.py`)."""
