"""What every document model shares: its pydantic configuration."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class DocumentModel(BaseModel):
    """Base of every document part.

    extra="ignore": a document written by a later hmb-ops of the same schema_version may carry a
    field this one does not know (added fields are the compatible kind of change); reading it must
    still work, and the schema_version check stops the incompatible kind. Unknown fields are
    dropped, never trusted. Missing required fields and wrong types are still errors.
    """

    model_config = ConfigDict(extra="ignore", populate_by_name=True, serialize_by_alias=True)
