"""Training pieces beside the LightningModule: exact resume and run folders."""
