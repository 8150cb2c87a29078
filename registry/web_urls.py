"""Browser pages (server-rendered HTML). The REST API lives under /api/v1/ (registry/urls.py)."""
from django.contrib.auth import views as auth_views
from django.urls import path

from amis import views as ami_views
from registry import views_accounts
from resolver import views as resolver_views
from templates import views as template_views

urlpatterns = [
    # Catalogue
    path("", ami_views.ami_browse, name="home"),
    path("amis/<str:ref>/", ami_views.ami_detail, name="ami-detail"),
    path("amis/<str:ref>/edit/", ami_views.ami_edit, name="ami-edit"),
    path("amis/<str:ref>/submit-review/", ami_views.ami_submit_review, name="ami-submit-review"),
    path("amis/<str:ref>/rate/", ami_views.ami_rate, name="ami-rate"),
    path("amis/<str:ref>/shares/", ami_views.ami_share_add, name="ami-share-add"),
    path("amis/<str:ref>/shares/<int:share_id>/delete/", ami_views.ami_share_remove, name="ami-share-remove"),
    path("amis/<str:ref>/copy/", ami_views.ami_copy, name="ami-copy"),
    path("amis/<str:ref>/deprecate/", ami_views.ami_deprecate, name="ami-deprecate"),
    path("amis/<str:ref>/progress/", ami_views.ami_progress, name="ami-progress"),
    path("amis/<str:ref>/progress/fragment/", ami_views.ami_progress_fragment, name="ami-progress-fragment"),
    path("operations/<uuid:op_id>/progress/", ami_views.operation_progress, name="operation-progress"),
    path("operations/<uuid:op_id>/progress/fragment/", ami_views.operation_progress_fragment,
         name="operation-progress-fragment"),
    # Submit wizard
    path("submit/", ami_views.submit_wizard, name="submit"),
    path("submit/<str:step>/", ami_views.submit_wizard, name="submit-step"),
    # The signed-in user's own entries
    path("me/amis/", ami_views.my_amis, name="my-amis"),
    # Workstation templates
    path("templates/", template_views.template_list, name="template-list"),
    path("templates/<str:ref>/", resolver_views.template_detail, name="template-detail"),
    # Accounts
    path("accounts/signup/", views_accounts.signup, name="signup"),
    path("accounts/login/", auth_views.LoginView.as_view(template_name="registry/accounts/login.html",
                                                         redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password/", auth_views.PasswordChangeView.as_view(
        template_name="registry/accounts/password_change.html", success_url="/accounts/password/done/"),
        name="password-change"),
    path("accounts/password/done/", auth_views.PasswordChangeDoneView.as_view(
        template_name="registry/accounts/password_change_done.html"), name="password-change-done"),
    path("accounts/token/", views_accounts.token_show, name="account-token"),
    path("accounts/token/regenerate/", views_accounts.token_regenerate, name="account-token-regenerate"),
]
