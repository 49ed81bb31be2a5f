"""Weight files: pretrained downloads, classic-weight migration, and what a checkpoint
carries besides its weights (config, class names)."""
