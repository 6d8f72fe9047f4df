//! CloudWatch alarm ARNs and AWS region names, checked by hand (no regex engine).

/// Longest CloudWatch alarm name (API limit).
const MAX_ALARM_NAME_CHARS: usize = 255;

/// The parts of `arn:<partition>:cloudwatch:<region>:<12-digit account>:alarm:<name>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlarmArn<'a> {
    pub partition: &'a str,
    pub region: &'a str,
    pub account_id: &'a str,
    pub alarm_name: &'a str,
}

impl<'a> AlarmArn<'a> {
    /// `None` unless `arn` is a well-formed CloudWatch alarm ARN.
    pub fn parse(arn: &'a str) -> Option<AlarmArn<'a>> {
        // splitn keeps any ':' inside the alarm name.
        let mut parts = arn.splitn(7, ':');
        let (arn_lit, partition, service, region, account_id, resource, alarm_name) = (
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
        );
        let partition_ok = !partition.is_empty()
            && partition
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'-');
        let account_ok = account_id.len() == 12 && account_id.bytes().all(|b| b.is_ascii_digit());
        let name_ok = !alarm_name.is_empty()
            && alarm_name.chars().count() <= MAX_ALARM_NAME_CHARS
            && !alarm_name.chars().any(char::is_control);
        (arn_lit == "arn"
            && partition_ok
            && service == "cloudwatch"
            && is_region(region)
            && account_ok
            && resource == "alarm"
            && name_ok)
            .then_some(AlarmArn {
                partition,
                region,
                account_id,
                alarm_name,
            })
    }
}

/// Hand-written `^[a-z]{2}(-[a-z]+)+-\d+$` (e.g. us-east-1, us-gov-west-1).
pub fn is_region(s: &str) -> bool {
    if s.len() > 32 {
        return false;
    }
    let parts: Vec<&str> = s.split('-').collect();
    let (Some(first), Some(last), Some(middle)) = (
        parts.first(),
        parts.last(),
        parts.get(1..parts.len().saturating_sub(1)),
    ) else {
        return false;
    };
    parts.len() >= 3
        && first.len() == 2
        && first.bytes().all(|b| b.is_ascii_lowercase())
        && middle
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && !last.is_empty()
        && last.bytes().all(|b| b.is_ascii_digit())
}

/// The alarm's name from its ARN (the whole text when it is not an alarm ARN).
pub fn alarm_name(arn: &str) -> &str {
    arn.split_once(":alarm:").map_or(arn, |(_, name)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_and_arns() {
        for ok in [
            "us-east-1",
            "us-gov-west-1",
            "ap-southeast-2",
            "eu-central-1",
            "cn-north-1",
            "il-central-1",
        ] {
            assert!(is_region(ok), "{ok}");
        }
        for bad in [
            "",
            "us",
            "us-1",
            "us-east",
            "u-east-1",
            "use-east-1",
            "us--1",
            "us-east-",
            "-us-east-1",
            "us-east-1-",
            "us-East-1",
            "us-east-x",
            "ü-east-1",
        ] {
            assert!(!is_region(bad), "{bad}");
        }
        let arn = "arn:aws-us-gov:cloudwatch:us-gov-west-1:210987654321:alarm:a:b";
        assert_eq!(
            AlarmArn::parse(arn),
            Some(AlarmArn {
                partition: "aws-us-gov",
                region: "us-gov-west-1",
                account_id: "210987654321",
                alarm_name: "a:b",
            })
        );
        assert!(AlarmArn::parse("arn:aws:cloudwatch:us-east-1:210987654321:alarm").is_none());
        assert!(AlarmArn::parse(&format!(
            "arn:aws:cloudwatch:us-east-1:210987654321:alarm:{}",
            "x".repeat(256)
        ))
        .is_none());
        assert!(AlarmArn::parse("arn:aws:cloudwatch:us-east-1:210987654321:alarm:a\nb").is_none());
    }
}
