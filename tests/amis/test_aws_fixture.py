import pytest

from registry import aws as aws_gateway


def test_aws_fixture_makes_describable_images(aws):
    image_id = aws.image("eu-west-1", "arm64", tags={"Template": "python-ml"})
    image = aws_gateway.describe_image("eu-west-1", image_id)
    assert image["ImageId"] == image_id
    assert image["Architecture"] == "arm64"
    assert image["State"] == "available"
    assert aws_gateway.describe_image("us-east-1", image_id) is None


def test_gateway_refuses_unknown_region():
    with pytest.raises(aws_gateway.AwsPermanentError):
        aws_gateway.client("ec2", "mars-north-1")
