"""Task modules that tests run in real ``taskiq worker`` subprocesses."""
