"""One end-to-end demo per system on the local stand-ins; ``python -m local.demo`` runs them."""
