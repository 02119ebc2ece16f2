"""Exam sessions: a class roster, each candidate's variants and credentials, as stored data.

Above the labs (a session will bring up and grade one lab per candidate and scenario),
below the reports and the CLI.
"""
