"""Storage for files that must never be reachable by URL (lab reports)."""

from django.conf import settings
from django.core.files.storage import FileSystemStorage


def private_storage() -> FileSystemStorage:
    # base_url=None: the storage has no public URL; a view checks permissions and streams it.
    return FileSystemStorage(location=settings.PRIVATE_STORAGE_ROOT, base_url=None)
