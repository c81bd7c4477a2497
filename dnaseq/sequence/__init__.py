"""Stage 1, sequence in: DNA encoding, reference genomes (FASTA index, plain/BGZF bytes), BED/GFF
intervals, VCF records, text inputs, and the coercion of sequences into model input batches.
Imports nothing of dnaseq above the root helpers."""
