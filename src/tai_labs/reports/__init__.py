"""Reports: what tai-labs tells juries and CI systems (terminal, JSON, JUnit XML, HTML)."""
