"""Training pieces beside the LightningModule: config checking, exact resume, run folders, logs and console output."""
