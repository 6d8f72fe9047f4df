# The module's shape is fixed: Terraform cannot pass a module a dynamic set of provider
# configurations, so it takes exactly three observer regions plus us-east-1 (Route 53
# metrics), the replica's region and the secondary's region (the switch alarm, in metric
# and both modes). The default aws provider is the control region.
terraform {
  required_version = ">= 1.5.0, < 2.0.0"

  required_providers {
    aws = {
      source                = "hashicorp/aws"
      version               = ">= 5.70.0, < 7.0.0"
      configuration_aliases = [aws.observer_a, aws.observer_b, aws.observer_c, aws.us_east_1, aws.replica, aws.secondary]
    }
    archive = {
      source  = "hashicorp/archive"
      version = ">= 2.4.0, < 3.0.0"
    }
  }
}
