"""What an administrator may grant: never more than they hold, never superuser, never over a superuser.

Django's user admin lets anyone with `auth.change_user` tick `is_superuser`, give any permission or group and set
any password, a superuser's included: the Administrator role holds `auth.change_user`, so it could make itself
superuser. These rules close that: an editor who is not a superuser grants only permissions they hold themselves,
only groups whose every permission they hold, and cannot change (or reset the password of) a superuser.
"""

from django.contrib.auth.models import AnonymousUser, Group, Permission, User
from django.db.models import Q, QuerySet


def permissions_grantable_by(editor: User | AnonymousUser) -> QuerySet[Permission]:
    if not editor.is_active:
        return Permission.objects.none()
    if editor.is_superuser:
        return Permission.objects.all()
    return Permission.objects.filter(Q(user=editor) | Q(group__user=editor)).distinct()


def groups_grantable_by(editor: User | AnonymousUser) -> QuerySet[Group]:
    """Groups none of whose permissions is beyond the editor's."""
    if editor.is_active and editor.is_superuser:
        return Group.objects.all()
    beyond = Permission.objects.exclude(pk__in=permissions_grantable_by(editor).values("pk"))
    return Group.objects.exclude(permissions__in=beyond)


def user_editable_by(editor: User | AnonymousUser, target: User) -> bool:
    """Only a superuser changes a superuser (their flags, groups, permissions or password)."""
    return bool(editor.is_active and (editor.is_superuser or not target.is_superuser))
