"""Local stand-ins (real engines on 127.0.0.1) and the offline demo runner."""
