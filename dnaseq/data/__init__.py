"""Stage 3, datasets: build-dataset (FASTA + peaks -> HDF5), the dataset layout and its readers
(dnaseq HDF5 and the published DeepSEA bundle), and the LightningDataModule that feeds training."""
