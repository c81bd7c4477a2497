"""Stage 2, figures: every plot and sequence logo, so nothing else imports matplotlib or logomaker
(both imported where a figure is drawn: they are slow to import)."""
