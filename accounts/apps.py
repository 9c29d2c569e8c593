from django.apps import AppConfig
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "accounts"
    verbose_name = _("Accounts and roles")

    def ready(self) -> None:
        from accounts.services.preferences import locale_remember_on_login, theme_remember_on_login
        from accounts.services.roles import roles_sync_after_migrate
        from accounts.services.sessions import session_expiry_for_wall_screens, session_sockets_close_on_logout

        # Every app's post_migrate, not only ours: Django creates an app's permissions in its own post_migrate, so
        # the roles get the permissions of an app installed after this one (alarms, ...) when that app migrates.
        post_migrate.connect(roles_sync_after_migrate, dispatch_uid="accounts.roles_sync")
        user_logged_out.connect(session_sockets_close_on_logout, dispatch_uid="accounts.session_sockets_close")
        user_logged_in.connect(session_expiry_for_wall_screens, dispatch_uid="accounts.wall_screen_session")
        user_logged_in.connect(theme_remember_on_login, dispatch_uid="accounts.theme_remember")
        user_logged_in.connect(locale_remember_on_login, dispatch_uid="accounts.locale_remember")
