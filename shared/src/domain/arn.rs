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
        let partition_ok = is_partition(partition);
        let account_ok = is_account_id(account_id);
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

/// The partition and account the functions run in: an alarm outside them cannot be read
/// (DescribeAlarms reads this account's alarms, and IAM grants only those), so the
/// catalog refuses it instead of counting on a vote or a readiness it can never confirm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HomeAccount {
    pub partition: String,
    pub account_id: String,
}

impl HomeAccount {
    /// From any ARN of the deployment (e.g. the alert topic's,
    /// `arn:<partition>:sns:<region>:<account>:<name>`); `None` unless both parts are well formed.
    pub fn of_arn(arn: &str) -> Option<HomeAccount> {
        let mut parts = arn.splitn(6, ':');
        let (arn_lit, partition, _service, _region, account_id) = (
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
        );
        (arn_lit == "arn" && is_partition(partition) && is_account_id(account_id)).then(|| {
            HomeAccount {
                partition: partition.to_string(),
                account_id: account_id.to_string(),
            }
        })
    }

    /// Why `alarm` cannot be read from this account, if it cannot.
    pub fn refuses(&self, alarm: &AlarmArn<'_>) -> Option<String> {
        if alarm.partition != self.partition {
            Some(format!(
                "is in partition '{}', not this deployment's '{}'",
                alarm.partition, self.partition
            ))
        } else if alarm.account_id != self.account_id {
            Some(format!(
                "is in account {}, not this deployment's {}: its state cannot be read from here",
                alarm.account_id, self.account_id
            ))
        } else {
            None
        }
    }
}

fn is_partition(s: &str) -> bool {
    !s.is_empty() && s.len() <= 32 && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
}

fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
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

    #[test]
    fn home_account_from_the_topic_and_what_it_refuses() {
        let home = HomeAccount::of_arn("arn:aws:sns:us-east-1:123456789012:failover-alerts")
            .expect("a topic ARN");
        assert_eq!(
            home,
            HomeAccount {
                partition: "aws".into(),
                account_id: "123456789012".into()
            }
        );
        for bad in [
            "",
            "my-topic",
            "arn:aws:sns:us-east-1:1234:t",
            "arn::sns:us-east-1:123456789012:t",
            "arn:AWS:sns:us-east-1:123456789012:t",
            "urn:aws:sns:us-east-1:123456789012:t",
        ] {
            assert_eq!(HomeAccount::of_arn(bad), None, "{bad}");
        }
        let refused = |arn: &str| home.refuses(&AlarmArn::parse(arn).expect(arn));
        assert_eq!(
            refused("arn:aws:cloudwatch:eu-west-1:123456789012:alarm:a"),
            None
        );
        let other_account = refused("arn:aws:cloudwatch:eu-west-1:210987654321:alarm:a");
        assert!(
            other_account
                .as_deref()
                .is_some_and(|m| m.contains("account 210987654321")),
            "{other_account:?}"
        );
        let other_partition = refused("arn:aws-cn:cloudwatch:cn-north-1:123456789012:alarm:a");
        assert!(
            other_partition
                .as_deref()
                .is_some_and(|m| m.contains("partition 'aws-cn'")),
            "{other_partition:?}"
        );
    }
}
