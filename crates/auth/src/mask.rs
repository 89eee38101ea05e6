//! How personal data is shown where it must not be shown whole: hosted pages, MFA API answers, tenant logs.

/// Masks an email address for display: `j***@example.com`.
pub fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => format!("{}***@{domain}", local.chars().next().unwrap_or('*')),
        None => "***".to_owned(),
    }
}

/// Masks a phone number for display: `XXXXXXXX5678` (its last four digits).
pub fn mask_phone(number: &str) -> String {
    let last: String = number.chars().rev().take(4).collect::<String>().chars().rev().collect();
    format!("XXXXXXXX{last}")
}
