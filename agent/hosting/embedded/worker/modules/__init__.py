"""IIS-named pipeline modules, one per file; registry.MODULES maps IIS names to them."""
