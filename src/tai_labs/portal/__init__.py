"""The web portal: candidates' lab pages and instructors' session pages over the same state
store and lab layer as the CLI (a top layer beside ``cli``; see docs/portal.md)."""
