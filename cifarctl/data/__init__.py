"""Datasets on disk and in memory: which exist, fetch, import, verify, cache and batch.

    catalog.py           which datasets exist: Classes, a DatasetSpec each, and the Place everything takes
    acquire.py           getting a dataset into the data dir: download, import, or confirm it is there
    acquire_report.py    what download and import report
    fetch.py             HTTP with mirrors and resume
    official_install.py  the official release installed from its archive or its extracted folder
    archives.py          extracting an archive safely
    folder_import.py     importing an image folder, holding a test split out of it if it has none
    source_detection.py  which dataset a source holds
    image_folder.py      image-folder layouts, class folders, decoding
    pixels.py            any image to 32x32 RGB: the rules `predict` shares
    batches_format.py    CIFAR-10's `cifar-10-batches-py/` files
    python_format.py     CIFAR-100's `train`/`test`/`meta` files (imported datasets too)
    safe_pickle.py       reading both without running pickled code
    store.py             a dataset on disk: where it lives, verified, installed, loaded
    manifest.py          the manifest of a verified dataset
    array_cache.py       the .npy array cache beside it
    memory.py            a dataset as uint8 tensors, whole-batch operations, epoch orders
    validation.py        the seeded, class-balanced validation split
    class_balance.py     images per class, how imbalanced, --sampling's choice, --class-weights' weights
    guards.py            outputs never land inside a dataset
"""
