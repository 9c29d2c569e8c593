import pytest

from accounts.models import Theme
from accounts.services.preferences import user_theme, user_theme_set


def test_a_user_who_never_chose_gets_the_dark_theme_and_a_choice_is_remembered(make_user):
    user, other = make_user("ann"), make_user("bob")
    assert user_theme(user=user) == Theme.DARK
    user_theme_set(user=user, theme="light")
    assert user_theme(user=user) == Theme.LIGHT
    assert user_theme(user=other) == Theme.DARK  # per user
    user_theme_set(user=user, theme="dark")
    assert user_theme(user=user) == Theme.DARK


def test_an_unknown_theme_is_refused(make_user):
    user = make_user("ann")
    with pytest.raises(ValueError, match="unknown theme"):
        user_theme_set(user=user, theme="neon")
    assert user_theme(user=user) == Theme.DARK


def test_the_theme_is_read_once_at_sign_in_and_a_page_costs_no_query_for_it(
    client, make_user, django_assert_num_queries
):
    from django.test import RequestFactory

    from accounts.services.preferences import SESSION_KEY, request_theme

    user = make_user("ann")
    user_theme_set(user=user, theme="light")
    client.force_login(user)  # user_logged_in: the theme into the session
    session = client.session
    assert session[SESSION_KEY] == "light"  # loaded from the session store, as a request's middleware does
    request = RequestFactory().get("/")
    request.user = user
    request.session = session
    with django_assert_num_queries(0):
        assert request_theme(request) == "light"
