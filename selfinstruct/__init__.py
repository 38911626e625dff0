"""selfinstruct."""
