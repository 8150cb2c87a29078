"""Browser pages (server-rendered HTML), named in the ``web`` namespace (``{% url 'web:ami-detail' %}``).
The REST API lives under /api/v1/ (registry/urls.py). Each page lives with its app."""
from django.contrib.auth import views as auth_views
from django.urls import include, path

from amis import progress_views
from amis import views as ami_views
from dashboard import views as dashboard_views
from ratings import views as rating_views
from registry import views_accounts
from registry.composers import compare_api, wizard
from registry.forms import LoginForm
from registry.login_limits import login_rate_limited
from resolver import views as resolver_views
from sharing import views as sharing_views
from templates import views as template_views

app_name = "web"

urlpatterns = [
    # Catalogue
    path("", ami_views.ami_browse, name="home"),
    path("amis/diff/", ami_views.ami_diff_page, name="ami-diff"),  # before amis/<ref>/
    path("compare/", compare_api.compare_page, name="compare"),
    # Success metrics (the dashboard app, above every other)
    path("dashboard/", dashboard_views.dashboard_page, name="dashboard"),
    path("dashboard/me/", dashboard_views.dashboard_mine, name="dashboard-mine"),
    path("amis/<str:ref>/", ami_views.ami_detail, name="ami-detail"),
    path("amis/<str:ref>/edit/", ami_views.ami_edit, name="ami-edit"),
    path("amis/<str:ref>/submit-review/", ami_views.ami_submit_review, name="ami-submit-review"),
    path("amis/<str:ref>/rate/", rating_views.ami_rate, name="ami-rate"),
    path("amis/<str:ref>/rating/delete/", rating_views.ami_rating_delete, name="ami-rating-delete"),
    path("amis/<str:ref>/reviews/<int:rating_id>/helpful/", rating_views.ami_review_helpful, name="ami-review-helpful"),
    path("amis/<str:ref>/reviews/<int:rating_id>/report/", rating_views.ami_review_report, name="ami-review-report"),
    path("amis/<str:ref>/shares/", sharing_views.ami_share_add, name="ami-share-add"),
    path("amis/<str:ref>/shares/<int:share_id>/delete/", sharing_views.ami_share_remove, name="ami-share-remove"),
    path("amis/<str:ref>/copy/", ami_views.ami_copy, name="ami-copy"),
    path("amis/<str:ref>/deprecate/", ami_views.ami_deprecate, name="ami-deprecate"),
    path("lineages/<uuid:lineage_id>/", ami_views.lineage_page, name="lineage-detail"),
    path("amis/<str:ref>/progress/", progress_views.ami_progress, name="ami-progress"),
    path("amis/<str:ref>/progress/fragment/", progress_views.ami_progress_fragment, name="ami-progress-fragment"),
    path("operations/<uuid:op_id>/progress/", progress_views.operation_progress, name="operation-progress"),
    path("operations/<uuid:op_id>/progress/fragment/", progress_views.operation_progress_fragment,
         name="operation-progress-fragment"),
    # Submit wizard
    path("submit/", wizard.submit_wizard, name="submit"),
    path("submit/<str:step>/", wizard.submit_wizard, name="submit-step"),
    # Notifications: subscriptions, webhooks, feeds (the notifications app's pages)
    path("", include("notifications.web_urls")),
    # The signed-in user's own entries
    path("me/amis/", progress_views.my_amis, name="my-amis"),
    # Workstation templates
    path("templates/", template_views.template_list, name="template-list"),
    path("templates/<str:ref>/", resolver_views.template_detail, name="template-detail"),
    path("ssm/", resolver_views.ssm_parameters_page, name="ssm-parameters"),
    # Accounts
    path("accounts/signup/", views_accounts.signup, name="signup"),
    path("accounts/login/", login_rate_limited(auth_views.LoginView.as_view(
        template_name="registry/accounts/login.html", authentication_form=LoginForm,
        redirect_authenticated_user=True)), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password/", auth_views.PasswordChangeView.as_view(
        template_name="registry/accounts/password_change.html", success_url="/accounts/password/done/"),
        name="password-change"),
    path("accounts/password/done/", auth_views.PasswordChangeDoneView.as_view(
        template_name="registry/accounts/password_change_done.html"), name="password-change-done"),
    path("accounts/token/", views_accounts.token_show, name="account-token"),
    path("accounts/token/regenerate/", views_accounts.token_regenerate, name="account-token-regenerate"),
]
