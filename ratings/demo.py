"""Demo ratings, reviews and downloads on the approved demo AMIs (``manage.py seed_demo``).

Idempotent: a reviewer who already rated an AMI is left alone, and a download is recorded only
for a reviewer without one, so running the seeder on every start changes nothing after the first.
Everything goes through the services, so aggregates, counters and the audit log stay consistent.
"""
import zlib

from django.contrib.auth import get_user_model

from amis.models import AMI, Download
from amis.selectors import ami_list_visible_to
from amis.downloads import download_record
from ratings.models import Rating
from ratings.services import rating_submit

REVIEWER_NAMES = ["demo-reviewer-ana", "demo-reviewer-ben", "demo-reviewer-chen"]
MAX_AMIS = 12

REVIEWS = {
    5: ["Booted in under a minute and everything was already installed. Exactly what I needed.",
        "Saved me an afternoon of setup; the CUDA and driver versions match the docs."],
    4: ["Works well. I had to install one extra package, otherwise ready to go.",
        "Solid image, a bit large, but launches quickly in us-east-1."],
    3: ["Fine for teaching, somewhat dated packages.",
        ""],
    2: ["The Jupyter service did not start on first boot; restarting it helped."],
}


def _stars(ami: AMI, username: str) -> int:
    # Stable per (image, reviewer) so reruns and fresh databases give the same demo picture;
    # skewed towards good ratings, as real catalogues are.
    return [5, 5, 4, 4, 4, 3, 5, 2][zlib.crc32(f"{ami.ami_id}:{username}".encode()) % 8]


def _review(stars: int, ami: AMI) -> str:
    choices = REVIEWS[stars]
    return choices[zlib.crc32(ami.ami_id.encode()) % len(choices)]


def seed(stdout, admin, researcher, moderator, **_):
    amis = list(AMI.objects.filter(status=AMI.Status.APPROVED).order_by("created_at")[:MAX_AMIS])
    if not amis:
        stdout.write("ratings: no approved AMIs yet (run the amis demo first); no demo reviews added.")
        return
    User = get_user_model()
    reviewers = [researcher, moderator, admin]
    for name in REVIEWER_NAMES:
        reviewer, created = User.objects.get_or_create(username=name, defaults={"email": f"{name}@example.org"})
        if created:
            reviewer.set_unusable_password()  # demo content only: nobody signs in as these
            reviewer.save(update_fields=["password"])
        reviewers.append(reviewer)

    added_ratings = added_downloads = 0
    for ami in amis:
        for i, reviewer in enumerate(reviewers):
            if reviewer is None or reviewer.pk == ami.creator_id:
                continue  # owners cannot rate their own AMI
            if not ami_list_visible_to(user=reviewer).filter(pk=ami.pk).exists():
                continue
            # Two in three reviewers "launched" the image: their reviews show verified_launch.
            if i % 3 != 2 and not Download.objects.filter(ami=ami, user=reviewer).exists():
                download_record(ami=ami, region=ami.source_region, user=reviewer, client="cws/demo")
                added_downloads += 1
            if Rating.objects.filter(ami=ami, user=reviewer).exists():
                continue
            stars = _stars(ami, reviewer.username)
            rating_submit(ami=ami, user=reviewer, rating=stars, review=_review(stars, ami))
            added_ratings += 1
    stdout.write(f"ratings: {added_ratings} demo ratings and {added_downloads} downloads added "
                 f"on {len(amis)} approved AMIs.")
