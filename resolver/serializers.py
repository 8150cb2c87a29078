"""Input and output shapes of the resolver endpoints (API.md, *Resolver*; cws field names)."""
from rest_framework import serializers

from registry.aws import COMMERCIAL_REGIONS
from registry.declared import FieldsCopiedOneLevel
from resolver.context import FAILED, OUTCOMES, TIER_NAMES
from resolver.validation import invalid_value_message
from templates.validation import ARCHITECTURES, STRATEGIES

REGION_CHOICES = [(r, r) for r in COMMERCIAL_REGIONS]


def _architecture_field(**kwargs) -> serializers.ChoiceField:
    return serializers.ChoiceField(choices=ARCHITECTURES, required=False,
                                   error_messages={"invalid_choice": invalid_value_message("architecture")}, **kwargs)


def _strategy_field(**kwargs) -> serializers.ChoiceField:
    return serializers.ChoiceField(choices=STRATEGIES, required=False,
                                   error_messages={"invalid_choice": invalid_value_message("strategy")}, **kwargs)


def _channel_field() -> serializers.CharField:
    # Checked by resolver.validation (the template format's rule), so the 400 reads the same everywhere.
    return serializers.CharField(required=False, max_length=40,
                                 help_text="A channel of the template's lineages (latest, stable, ...); also "
                                           "`{template}@{channel}` in the path. Default: the template's "
                                           "ami_config.channel. Answers from the registry's versions only.")


def _version_field() -> serializers.CharField:
    return serializers.CharField(required=False, max_length=100,
                                 help_text="Version constraint: `~> 1.4` (>= 1.4, < 2), `>= 1.2, < 2`, `1.4.2`; "
                                           "the newest matching approved version of each lineage answers.")


class ResolveQuerySerializer(FieldsCopiedOneLevel, serializers.Serializer):
    region = serializers.ChoiceField(choices=REGION_CHOICES, required=False, allow_blank=True,
                                     help_text="Target AWS region; default: X-AWS-Region header, then your "
                                               "default region, then AWS_DEFAULT_REGION.")
    architecture = _architecture_field(help_text="x86_64 or arm64; default: the template's preferred "
                                                 "architecture first (else arm64), then the other.")
    strategy = _strategy_field(help_text="Overrides the template's ami_config.strategy.")
    details = serializers.BooleanField(default=False, help_text="Add region_checks and cost_analysis.")
    refresh = serializers.BooleanField(default=False,
                                       help_text="Moderators only: bypass the caches (cold resolution).")
    policy = serializers.ChoiceField(choices=["enforce", "report"], default="enforce",
                                     help_text="report: apply no institution policy, list what it would block "
                                               "(policy_report).")
    channel = _channel_field()
    version = _version_field()


class PreviewQuerySerializer(serializers.Serializer):
    region = serializers.ChoiceField(choices=REGION_CHOICES, required=False, allow_blank=True,
                                     help_text="Target AWS region; default: X-AWS-Region header, then your "
                                               "default region, then AWS_DEFAULT_REGION.")
    architecture = _architecture_field()
    strategy = _strategy_field()
    channel = _channel_field()
    version = _version_field()


class CostsQuerySerializer(serializers.Serializer):
    region = serializers.ChoiceField(choices=REGION_CHOICES, required=False, allow_blank=True,
                                     help_text="Target AWS region; default: X-AWS-Region header, then your "
                                               "default region, then AWS_DEFAULT_REGION.")
    instance_type = serializers.CharField(required=False, allow_blank=True, default="", max_length=40)
    architecture = _architecture_field()


class AmiTestInputSerializer(serializers.Serializer):
    template_name = serializers.CharField(max_length=200, help_text="Template slug or exact name.")
    regions = serializers.ListField(child=serializers.CharField(max_length=32), required=False, max_length=64,
                                    help_text="Default: us-east-1, us-west-2, eu-west-1, ap-south-1, and the "
                                              "caller's region (X-AWS-Region, default region).")
    all_regions = serializers.BooleanField(default=False, help_text="Every commercial region.")
    architecture = _architecture_field()
    strategy = _strategy_field()
    deep = serializers.BooleanField(default=False,
                                    help_text="Also queue the AWS validation of answering registry AMIs.")


class AmiDetailsSerializer(serializers.Serializer):
    creation_date = serializers.CharField()
    owner_id = serializers.CharField()
    public = serializers.BooleanField()
    marketplace_cost = serializers.FloatField()
    platform = serializers.CharField(help_text="linux, windows, rhel, ...")
    virtualization = serializers.CharField(help_text="hvm or paravirtual")
    root_device = serializers.CharField(help_text="ebs or instance-store")


class CopySerializer(serializers.Serializer):
    source_region = serializers.CharField()
    source_ami_id = serializers.CharField()
    estimated_cost = serializers.FloatField()
    estimated_minutes = serializers.IntegerField()


class TriedSerializer(serializers.Serializer):
    tier = serializers.CharField()
    outcome = serializers.ChoiceField(choices=list(OUTCOMES))
    reason = serializers.CharField()
    region = serializers.CharField(required=False)


class InstanceChoiceSerializer(serializers.Serializer):
    instance_type = serializers.CharField()
    architecture = serializers.CharField()
    vcpus = serializers.IntegerField()
    memory_gib = serializers.FloatField()
    gpus = serializers.IntegerField()
    hourly_price = serializers.FloatField(help_text="$ per hour in the region (cost model).")


class InstanceNeedsSerializer(serializers.Serializer):
    architectures = serializers.ListField(child=serializers.CharField())
    gpu = serializers.BooleanField()
    min_vcpus = serializers.IntegerField()
    min_memory_gib = serializers.FloatField()


class InstanceAdviceSerializer(serializers.Serializer):
    template_name = serializers.CharField()
    region = serializers.CharField()
    needs = InstanceNeedsSerializer()
    recommended = InstanceChoiceSerializer(allow_null=True)
    by_architecture = serializers.DictField(child=InstanceChoiceSerializer(), help_text="Cheapest per architecture.")
    arm64_saving_percent = serializers.FloatField(allow_null=True, help_text="arm64 against x86_64, % of the price.")
    candidates = InstanceChoiceSerializer(many=True)
    reasoning = serializers.CharField()


class CostAnalysisSerializer(serializers.Serializer):
    template_name = serializers.CharField()
    region = serializers.CharField()
    instance_type = serializers.CharField()
    hourly_price = serializers.FloatField()
    ami_launch_cost = serializers.FloatField(help_text="$ per hour of the instance launched from the AMI.")
    ami_storage_cost = serializers.FloatField(help_text="$ per month to keep the AMI in the region.")
    ami_setup_cost = serializers.FloatField(help_text="$ of compute while an AMI boots (30 s).")
    script_launch_cost = serializers.FloatField(help_text="$ per hour of the instance provisioned by script.")
    script_setup_cost = serializers.FloatField(help_text="$ of compute while the script provisions.")
    script_setup_time = serializers.IntegerField(help_text="Minutes.")
    boot_cost = serializers.FloatField(help_text="$ of compute while booting (30 s).")
    break_even_point = serializers.FloatField(
        help_text="Hours: launch at least once in this many hours and keeping the AMI is cheaper.")
    break_even_launches_per_month = serializers.FloatField(help_text="Launches per month above which the AMI "
                                                                     "is cheaper.")
    cost_savings_1h = serializers.FloatField()
    cost_savings_8h = serializers.FloatField()
    cost_savings_1_hour = serializers.FloatField(help_text="Same as cost_savings_1h (the cws client's key).")
    cost_savings_8_hour = serializers.FloatField(help_text="Same as cost_savings_8h (the cws client's key).")
    time_savings = serializers.IntegerField(help_text="Minutes saved per launch.")
    recommendation = serializers.ChoiceField(choices=["ami_recommended", "script_recommended", "neutral"])
    reasoning = serializers.CharField()
    instance_advice = InstanceAdviceSerializer(required=False, help_text="Which instance type and architecture, "
                                                                         "by price and the template's needs.")


class ResolutionOutputSerializer(serializers.Serializer):
    # cws fields
    template_name = serializers.CharField()
    target_region = serializers.CharField()
    resolution_method = serializers.ChoiceField(choices=[*TIER_NAMES, FAILED])
    ami_id = serializers.CharField(help_text='"" when none.')
    ami_name = serializers.CharField()
    ami_architecture = serializers.CharField()
    ami_description = serializers.CharField()
    launch_time_estimate_seconds = serializers.IntegerField()
    cost_savings = serializers.FloatField(help_text="$ saved per launch against script provisioning.")
    warning = serializers.CharField()
    fallback_chain = serializers.ListField(child=serializers.CharField())
    ami_details = AmiDetailsSerializer()
    # ours
    strategy = serializers.CharField()
    source_region = serializers.CharField()
    registry_id = serializers.CharField(allow_null=True)
    channel = serializers.CharField(help_text='The channel asked for ("" when none).')
    version_constraint = serializers.CharField(help_text='The version constraint asked for, normalised ("" when none).')
    version = serializers.CharField(help_text='The answering version of its lineage ("" outside a lineage).')
    estimated_cost = serializers.FloatField()
    consent_required = serializers.BooleanField()
    copy = CopySerializer(allow_null=True)
    base_image_parameter = serializers.CharField(help_text="SSM parameter of the base OS (fallback_script).")
    tried = TriedSerializer(many=True)
    cached = serializers.BooleanField()
    duration_ms = serializers.FloatField()
    resolved_at = serializers.CharField()
    region_checks = serializers.ListField(child=serializers.DictField(), required=False,
                                          help_text="details=true: per fallback region outcome.")
    cost_analysis = CostAnalysisSerializer(required=False, help_text="details=true.")
    policy_report = serializers.DictField(required=False,
                                          help_text="policy=report: {mode, sources, would_block: [{ami_id, "
                                                    "registry_id, region, reasons}]}.")


class NoAmiErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    message = serializers.CharField()
    code = serializers.CharField(help_text='"no_ami_available"')
    status_code = serializers.IntegerField()
    template_name = serializers.CharField()
    target_region = serializers.CharField()
    strategy = serializers.CharField()
    resolution_method = serializers.CharField()
    fallback_chain = serializers.ListField(child=serializers.CharField())
    tried = TriedSerializer(many=True)


class PreviewOutputSerializer(serializers.Serializer):
    template_name = serializers.CharField()
    target_region = serializers.CharField()
    strategy = serializers.CharField()
    architectures = serializers.ListField(child=serializers.CharField())
    resolution_method = serializers.CharField(help_text="The tier that would answer (failed: none).")
    ami_id = serializers.CharField()
    source_region = serializers.CharField()
    registry_id = serializers.CharField(allow_null=True)
    consent_required = serializers.BooleanField()
    may_answer_first = serializers.ListField(child=serializers.CharField(),
                                             help_text="Earlier tiers that need AWS to know if they answer.")
    tried = serializers.ListField(child=serializers.DictField())
    aws_calls = serializers.IntegerField()
    preview = serializers.BooleanField()
    fallback_chain = serializers.ListField(child=serializers.CharField(),
                                           help_text="Tiers a resolution would try, in order, up to the answer.")
    launch_time_estimate_seconds = serializers.IntegerField()


class RegionResultSerializer(serializers.Serializer):
    region = serializers.CharField()
    status = serializers.CharField(help_text="passed (a resolution answered, script fallback included) or failed")
    ami_id = serializers.CharField()
    ami = serializers.CharField(help_text="The same id under the key the cws client prints.")
    resolution_method = serializers.CharField()
    error = serializers.CharField()
    test_duration_ms = serializers.FloatField()


class AmiTestOutputSerializer(serializers.Serializer):
    template_name = serializers.CharField()
    overall_status = serializers.ChoiceField(choices=["passed", "partial", "failed"])
    region_results = serializers.DictField(child=RegionResultSerializer())
    tested_at = serializers.CharField()
    total_regions = serializers.IntegerField()
    available_regions = serializers.IntegerField()
    deep_validation = serializers.DictField(required=False)


class FreshnessResultSerializer(serializers.Serializer):
    distro = serializers.CharField()
    version = serializers.CharField()
    region = serializers.CharField()
    architecture = serializers.CharField()
    current_ami = serializers.CharField()
    latest_ami = serializers.CharField(help_text='The newest base image in SSM ("" without SSM support)')
    is_outdated = serializers.BooleanField()
    needs_update = serializers.BooleanField()
    has_ssm_support = serializers.BooleanField()
    message = serializers.CharField()
    source = serializers.ChoiceField(choices=["template_mapping", "community_ami"])
    template = serializers.CharField(required=False)
    registry_id = serializers.CharField(required=False)
    name = serializers.CharField(required=False)


class FreshnessOutputSerializer(serializers.Serializer):
    total_checked = serializers.IntegerField()
    outdated = serializers.IntegerField()
    up_to_date = serializers.IntegerField()
    no_ssm_support = serializers.IntegerField()
    results = FreshnessResultSerializer(many=True)
    recommendation = serializers.CharField()
    ssm_supported = serializers.ListField(child=serializers.CharField())
    static_only = serializers.ListField(child=serializers.CharField())
    check_timestamp = serializers.CharField()
