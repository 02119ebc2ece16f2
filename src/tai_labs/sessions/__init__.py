"""Sessions: the transport layer graders use (command, device CLI, directory)."""
