from django.dispatch import Signal

# Sent after a tag CSV import commits. Its bulk writes send no post_save, so whoever caches tag configuration
# listens here too. Arguments: created_ids, updated_ids (tag primary keys).
tags_imported = Signal()
