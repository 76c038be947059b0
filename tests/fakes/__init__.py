"""Local fakes of chat platforms for tests."""
