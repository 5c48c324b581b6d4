"""The Knowledge Folder API: folders' files (upload, update, list, get, delete) and search."""
