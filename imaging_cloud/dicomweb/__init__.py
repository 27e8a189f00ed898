"""DICOMweb (PS3.18): STOW-RS, QIDO-RS and WADO-RS over the de-identified index and object store."""
