use super::*;

fn policy(level: PasswordPolicyLevel) -> PasswordPolicy {
    PasswordPolicy { level, dictionary: false, no_personal_info: false }
}

fn nobody() -> PersonalInfo<'static> {
    PersonalInfo { email: "someone@example.com", ..PersonalInfo::default() }
}

/// The name of the refusal, or "ok".
fn verdict(policy: PasswordPolicy, password: &str) -> &'static str {
    match policy.check(password, &nobody()) {
        Ok(()) => "ok",
        Err(refusal) => refusal.name,
    }
}

fn accepts(level: PasswordPolicyLevel, password: &str) -> bool {
    verdict(policy(level), password) == "ok"
}

/// The `verified` flag of each rule of a strength refusal, by code.
fn verified(level: PasswordPolicyLevel, password: &str) -> Vec<(String, bool)> {
    let refusal = policy(level).check(password, &nobody()).expect_err("refused");
    assert_eq!(refusal.name, PasswordRefusal::STRENGTH);
    refusal.description["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .map(|rule| (rule["code"].as_str().expect("code").to_owned(), rule["verified"] == json!(true)))
        .collect()
}

const GOOD_POLICY: &str = "* At least 8 characters in length\n\
* Contain at least 3 of the following 4 types of characters:\n \
* lower case letters (a-z)\n \
* upper case letters (A-Z)\n \
* numbers (i.e. 0-9)\n \
* special characters (e.g. !@#$%^&*)\n\
* At most 128 characters in length";

const FAIR_POLICY: &str = "* At least 8 characters in length\n\
* Should contain:\n \
* lower case letters (a-z)\n \
* upper case letters (A-Z)\n \
* numbers (i.e. 0-9)\n\
* At most 128 characters in length";

#[test]
fn none_needs_one_character() {
    use PasswordPolicyLevel::None;
    assert!(!accepts(None, ""));
    assert_eq!(verified(None, ""), [("nonEmpty".to_owned(), false), ("lengthAtMost".to_owned(), true)]);
    assert!(accepts(None, "a"));
    assert!(accepts(None, " "));
}

#[test]
fn low_needs_six_characters_counted_as_characters_not_bytes() {
    use PasswordPolicyLevel::Low;
    assert!(!accepts(Low, "abcde"));
    assert!(accepts(Low, "abcdef"));
    // Five two-byte characters are ten bytes but five characters.
    assert!(!accepts(Low, "äöüéè"));
    assert!(accepts(Low, "äöüéèà"));
    assert!(accepts(Low, "山田太郎さん"));
}

#[test]
fn fair_needs_eight_characters_with_lower_upper_and_number() {
    use PasswordPolicyLevel::Fair;
    assert!(!accepts(Fair, "Abcdef1"), "7 characters");
    assert!(accepts(Fair, "Abcdefg1"), "8 characters");
    assert!(!accepts(Fair, "abcdefg1"), "no upper case");
    assert!(!accepts(Fair, "ABCDEFG1"), "no lower case");
    assert!(!accepts(Fair, "Abcdefgh"), "no number");
    assert!(!accepts(Fair, "abc!@#$%^&*1"), "special characters do not stand in for upper case");
    assert_eq!(
        verified(Fair, "abcdefg1"),
        [("lengthAtLeast".to_owned(), true), ("shouldContain".to_owned(), false), ("lengthAtMost".to_owned(), true)]
    );
}

#[test]
fn good_needs_three_of_the_four_classes() {
    use PasswordPolicyLevel::Good;
    assert!(!accepts(Good, "abcdefg1"), "2 classes");
    assert!(!accepts(Good, "abcdefg!"), "2 classes");
    assert!(accepts(Good, "Abcdefg1"), "lower, upper, number");
    assert!(accepts(Good, "abcdef1!"), "lower, number, special");
    assert!(accepts(Good, "ABC DEF1"), "the space is a special character");
    assert!(!accepts(Good, "Abcdef1"), "7 characters");
    assert!(accepts(Good, "Aa1!Aa1!"));
}

#[test]
fn letters_and_digits_outside_ascii_count_in_no_class() {
    use PasswordPolicyLevel::Good;
    // "ä", "ö", "É" are neither lower nor upper case here, "１" (full-width) is no number, "。" no special character.
    assert!(!accepts(Good, "pässwörd1"), "lower + number only");
    assert!(accepts(Good, "Pässwörd1"));
    assert!(!accepts(Good, "ÉÀÖéàö１。"), "no ASCII class at all");
    let items = policy(Good).rules("en", "ÉÀÖéàö１。")[1].items.iter().map(|item| item.met).collect::<Vec<_>>();
    assert_eq!(items, [false, false, false, false]);
}

#[test]
fn excellent_needs_ten_characters_and_no_three_identical_in_a_row() {
    use PasswordPolicyLevel::Excellent;
    assert!(!accepts(Excellent, "Abcdefg1!"), "9 characters");
    assert!(accepts(Excellent, "Abcdefgh1!"), "10 characters");
    assert!(!accepts(Excellent, "abcdefghij1"), "2 classes");
    assert!(accepts(Excellent, "Abcdeef1!x"), "two identical in a row are fine");
    assert!(!accepts(Excellent, "Abcdeeef1!"), "three are not");
    assert!(!accepts(Excellent, "Abcdefg111"), "\"111\" is not allowed either");
    assert!(!accepts(Excellent, "Abcdefg1ééé"), "nor three identical non-ASCII characters");
    assert_eq!(
        verified(Excellent, "Abcdeeef1!"),
        [
            ("lengthAtLeast".to_owned(), true),
            ("containsAtLeast".to_owned(), true),
            ("identicalChars".to_owned(), false),
            ("lengthAtMost".to_owned(), true)
        ]
    );
}

#[test]
fn every_level_refuses_more_than_128_characters() {
    for level in [
        PasswordPolicyLevel::None,
        PasswordPolicyLevel::Low,
        PasswordPolicyLevel::Fair,
        PasswordPolicyLevel::Good,
        PasswordPolicyLevel::Excellent,
    ] {
        let fits = format!("Ab1!{}", "xy".repeat(62));
        assert_eq!(fits.chars().count(), 128);
        assert!(accepts(level, &fits), "{level:?}");
        let too_long = format!("{fits}z");
        assert!(!accepts(level, &too_long), "{level:?}");
        let rules = verified(level, &too_long);
        assert_eq!(rules.last(), Some(&("lengthAtMost".to_owned(), false)), "{level:?}");
        assert!(rules[..rules.len() - 1].iter().all(|(_, met)| *met), "{level:?}: only the bound fails");
    }
    // 128 two-byte characters (256 bytes) fit; 129 do not.
    assert!(accepts(PasswordPolicyLevel::None, &"é".repeat(128)));
    assert!(!accepts(PasswordPolicyLevel::None, &"é".repeat(129)));
}

#[test]
fn a_strength_refusal_at_good_is_auth0s_json() {
    let refusal = policy(PasswordPolicyLevel::Good).check("abcdefgh", &nobody()).expect_err("too weak");
    assert_eq!(
        refusal.to_json(),
        json!({
            "name": "PasswordStrengthError",
            "message": "Password is too weak",
            "code": "invalid_password",
            "description": {
                "rules": [
                    {
                        "message": "At least %d characters in length",
                        "format": [8],
                        "code": "lengthAtLeast",
                        "verified": true
                    },
                    {
                        "message": "Contain at least %d of the following %d types of characters:",
                        "code": "containsAtLeast",
                        "format": [3, 4],
                        "items": [
                            { "message": "lower case letters (a-z)", "code": "lowerCase", "verified": true },
                            { "message": "upper case letters (A-Z)", "code": "upperCase", "verified": false },
                            { "message": "numbers (i.e. 0-9)", "code": "numbers", "verified": false },
                            {
                                "message": "special characters (e.g. !@#$%^&*)",
                                "code": "specialCharacters",
                                "verified": false
                            }
                        ],
                        "verified": false
                    },
                    {
                        "message": "At most %d characters in length",
                        "format": [128],
                        "code": "lengthAtMost",
                        "verified": true
                    }
                ],
                "verified": false
            },
            "policy": GOOD_POLICY,
            "statusCode": 400
        })
    );
    assert_eq!(refusal.sentence("en"), "The password is too weak.");
    assert_eq!(refusal.sentence("ja"), "パスワードが条件を満たしていません。");
}

#[test]
fn a_strength_refusal_at_fair_is_auth0s_json() {
    let refusal = policy(PasswordPolicyLevel::Fair).check("abcdefg1", &nobody()).expect_err("no upper case");
    assert_eq!(
        refusal.to_json(),
        json!({
            "name": "PasswordStrengthError",
            "message": "Password is too weak",
            "code": "invalid_password",
            "description": {
                "rules": [
                    {
                        "message": "At least %d characters in length",
                        "format": [8],
                        "code": "lengthAtLeast",
                        "verified": true
                    },
                    {
                        "message": "Should contain:",
                        "code": "shouldContain",
                        "verified": false,
                        "items": [
                            { "message": "lower case letters (a-z)", "code": "lowerCase", "verified": true },
                            { "message": "upper case letters (A-Z)", "code": "upperCase", "verified": false },
                            { "message": "numbers (i.e. 0-9)", "code": "numbers", "verified": true }
                        ]
                    },
                    {
                        "message": "At most %d characters in length",
                        "format": [128],
                        "code": "lengthAtMost",
                        "verified": true
                    }
                ],
                "verified": false
            },
            "policy": FAIR_POLICY,
            "statusCode": 400
        })
    );
}

#[test]
fn the_identical_characters_rule_is_password_sheriffs() {
    let refusal = policy(PasswordPolicyLevel::Excellent).check("Abcdeeef1!", &nobody()).expect_err("eee");
    assert_eq!(
        refusal.description["rules"][2],
        json!({
            "message": "No more than %d identical characters in a row (e.g., \"%s\" not allowed)",
            "format": [2, "aaa"],
            "code": "identicalChars",
            "verified": false
        })
    );
}

#[test]
fn policy_texts_are_password_sheriffs_with_the_bound_last() {
    assert_eq!(policy(PasswordPolicyLevel::Good).policy_text(), GOOD_POLICY);
    assert_eq!(policy(PasswordPolicyLevel::Fair).policy_text(), FAIR_POLICY);
    assert_eq!(
        policy(PasswordPolicyLevel::None).policy_text(),
        "* Non-empty password required\n* At most 128 characters in length"
    );
    assert_eq!(
        policy(PasswordPolicyLevel::Low).policy_text(),
        "* At least 6 characters in length\n* At most 128 characters in length"
    );
    assert_eq!(
        policy(PasswordPolicyLevel::Excellent).policy_text(),
        "* At least 10 characters in length\n\
         * Contain at least 3 of the following 4 types of characters:\n \
         * lower case letters (a-z)\n \
         * upper case letters (A-Z)\n \
         * numbers (i.e. 0-9)\n \
         * special characters (e.g. !@#$%^&*)\n\
         * No more than 2 identical characters in a row (e.g., \"aaa\" not allowed)\n\
         * At most 128 characters in length"
    );
}

#[test]
fn rules_for_a_page_in_english_and_japanese() {
    let good = policy(PasswordPolicyLevel::Good);
    let english = good.rules("en", "abcdefg1");
    let summary = |rules: &[RuleStatus]| -> Vec<(&'static str, String, bool)> {
        rules.iter().map(|rule| (rule.code, rule.text.clone(), rule.met)).collect()
    };
    assert_eq!(
        summary(&english),
        [
            ("lengthAtLeast", "At least 8 characters in length".to_owned(), true),
            ("containsAtLeast", "Contain at least 3 of the following 4 types of characters:".to_owned(), false),
            ("lengthAtMost", "At most 128 characters in length".to_owned(), true),
        ]
    );
    assert_eq!(
        summary(&english[1].items),
        [
            ("lowerCase", "lower case letters (a-z)".to_owned(), true),
            ("upperCase", "upper case letters (A-Z)".to_owned(), false),
            ("numbers", "numbers (i.e. 0-9)".to_owned(), true),
            ("specialCharacters", "special characters (e.g. !@#$%^&*)".to_owned(), false),
        ]
    );
    let japanese = good.rules("ja", "abcdefg1");
    assert_eq!(
        summary(&japanese),
        [
            ("lengthAtLeast", "8 文字以上".to_owned(), true),
            ("containsAtLeast", "次の 4 種類のうち 3 種類以上の文字を含む".to_owned(), false),
            ("lengthAtMost", "128 文字以内".to_owned(), true),
        ]
    );
    assert_eq!(japanese[1].items[1].text, "英大文字 (A〜Z)");
    assert_eq!(good.rules("ja-JP", "")[0].text, "8 文字以上");
    assert_eq!(good.rules("jam", "")[0].text, "At least 8 characters in length", "only ja is Japanese");
    let excellent = policy(PasswordPolicyLevel::Excellent).rules("ja", "Abcdeeef1!");
    assert_eq!(excellent[2].text, "同じ文字を 3 文字以上続けない (「aaa」など)");
    assert!(!excellent[2].met);
    assert!(
        policy(PasswordPolicyLevel::Fair).rules("en", "").iter().all(|rule| !rule.met || rule.code == "lengthAtMost")
    );
}

#[test]
fn the_dictionary_refuses_common_passwords_ignoring_case() {
    let with_dictionary =
        PasswordPolicy { level: PasswordPolicyLevel::None, dictionary: true, no_personal_info: false };
    for common in ["password", "123456", "qwerty", "PASSWORD", "QwErTy", "iloveyou"] {
        assert!(is_common(common), "{common}");
        assert_eq!(verdict(with_dictionary, common), PasswordRefusal::DICTIONARY, "{common}");
    }
    // Entries that meet the fair level: only the dictionary stops them.
    let fair = PasswordPolicy { level: PasswordPolicyLevel::Fair, ..with_dictionary };
    for common in ["Password1", "Qwerty123", "Michael1", "Abcd1234"] {
        assert_eq!(verdict(policy(PasswordPolicyLevel::Fair), common), "ok", "{common} meets fair");
        assert_eq!(verdict(fair, common), PasswordRefusal::DICTIONARY, "{common}");
    }
    for uncommon in ["Tr0ub4dor&3", "correct horse battery staple", "password12345678"] {
        assert!(!is_common(uncommon), "{uncommon}");
        assert_eq!(verdict(with_dictionary, uncommon), "ok", "{uncommon}");
    }
    let refusal = fair.check("Password1", &nobody()).expect_err("common");
    assert_eq!(
        refusal.to_json(),
        json!({
            "name": "PasswordDictionaryError",
            "message": "Password is too common",
            "code": "invalid_password",
            "description": "Password is not allowed, it might be too common.",
            "statusCode": 400
        })
    );
    assert_eq!(refusal.sentence("en"), "The password is too common.");
    assert_eq!(refusal.sentence("ja"), "このパスワードはよく使われているため使えません。");
}

#[test]
fn the_dictionary_is_the_ten_thousand_seclists_entries() {
    let lines: Vec<&str> = COMMON_PASSWORDS_TXT.lines().collect();
    assert_eq!(lines.len(), 10_000);
    assert_eq!(COMMON_PASSWORDS.len(), 10_000, "every entry is unique, ignoring case");
    assert_eq!((lines[0], lines[1], lines[9_999]), ("password", "123456", "eyphed"));
    assert!(lines.iter().all(|line| !line.is_empty() && line.trim() == *line));
}

#[test]
fn personal_information_is_refused_ignoring_case() {
    let strict = PasswordPolicy { level: PasswordPolicyLevel::Good, dictionary: true, no_personal_info: true };
    let jane = PersonalInfo { email: "jane.doe@example.com", ..PersonalInfo::default() };
    let refusal = strict.check("Jane.Doe2024!x", &jane).expect_err("contains the local part");
    assert_eq!(
        refusal.to_json(),
        json!({
            "name": "PasswordNoUserInfoError",
            "message": "Password contains user information",
            "code": "invalid_password",
            "description": "Password is not allowed, it might contain user information.",
            "statusCode": 400
        })
    );
    assert_eq!(refusal.sentence("en"), "The password must not contain your name, username or email address.");
    assert_eq!(refusal.sentence("ja"), "名前、ユーザー名、メールアドレスを含むパスワードは使えません。");
    assert!(strict.check("Jane2024!xyz", &jane).is_ok(), "a part of the local part is not the local part");

    let full = PersonalInfo {
        email: "jd@example.com",
        username: Some("jdoe77"),
        name: Some("Jane Doe"),
        given_name: Some("Janet"),
        family_name: Some("Doe-Smith"),
        nickname: Some("Jaybird"),
    };
    for (password, why) in [
        ("xJDOE77!abc", "username"),
        ("My name is JANE DOE 1", "name"),
        ("Hi Janet 2024", "given name"),
        ("2024!doe-smith", "family name"),
        ("Fly jaybird 9", "nickname"),
    ] {
        assert_eq!(strict.check(password, &full).map_err(|r| r.name), Err(PasswordRefusal::USER_INFO), "{why}");
    }
    assert!(strict.check("Jd2024!xyzw", &full).is_ok(), "a two-letter local part is ignored");
    let short = PersonalInfo { email: "jo@example.com", nickname: Some("Al"), ..PersonalInfo::default() };
    assert!(strict.check("Jo!Al2024x", &short).is_ok(), "values under three characters are ignored");
    let switched_off = PasswordPolicy { no_personal_info: false, ..strict };
    assert!(switched_off.check("Jane.Doe2024!x", &jane).is_ok());
}

#[test]
fn checks_run_strength_then_personal_information_then_dictionary() {
    let strict = PasswordPolicy { level: PasswordPolicyLevel::Fair, dictionary: true, no_personal_info: true };
    let michael = PersonalInfo { email: "michael@example.com", ..PersonalInfo::default() };
    // "michael" is common, is the user's local part and is too weak: strength wins.
    assert_eq!(strict.check("michael", &michael).map_err(|r| r.name), Err(PasswordRefusal::STRENGTH));
    // "Michael1" is in the dictionary and contains the local part: personal information wins.
    assert_eq!(strict.check("Michael1", &michael).map_err(|r| r.name), Err(PasswordRefusal::USER_INFO));
    assert_eq!(strict.check("Michael1", &nobody()).map_err(|r| r.name), Err(PasswordRefusal::DICTIONARY));
}

#[test]
fn switched_off_checks_pass() {
    let lax = PasswordPolicy { level: PasswordPolicyLevel::Low, dictionary: false, no_personal_info: false };
    let jane = PersonalInfo { email: "jane.doe@example.com", ..PersonalInfo::default() };
    assert!(lax.check("password", &jane).is_ok());
    assert!(lax.check("jane.doe", &jane).is_ok());
}

#[test]
fn from_config_reads_the_connection() {
    let mut connection = ConnectionConfig::default();
    assert_eq!(
        PasswordPolicy::from_config(&connection),
        PasswordPolicy { level: PasswordPolicyLevel::Fair, dictionary: true, no_personal_info: true }
    );
    connection.password_policy = PasswordPolicyLevel::Excellent;
    connection.password_dictionary = false;
    connection.password_no_personal_info = false;
    assert_eq!(
        PasswordPolicy::from_config(&connection),
        PasswordPolicy { level: PasswordPolicyLevel::Excellent, dictionary: false, no_personal_info: false }
    );
}

#[test]
fn placeholders_are_filled_in_order_and_other_percent_signs_kept() {
    assert_eq!(fill("%d of %d", &[json!(3), json!(4)]), "3 of 4");
    assert_eq!(fill("e.g. \"%s\" (%d)", &[json!("aaa"), json!(2)]), "e.g. \"aaa\" (2)");
    assert_eq!(fill("!@#$%^&* %d", &[json!(1)]), "!@#$%^&* 1");
    assert_eq!(fill("%d and %d", &[json!(1)]), "1 and %d");
    assert_eq!(longest_run(""), 0);
    assert_eq!(longest_run("abccc1cc"), 3);
}
