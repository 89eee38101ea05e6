//! The hosted pages' texts, in English and Japanese.

use gatehouse_auth::login::step::Notice;
use gatehouse_types::FactorType;

/// A text of the hosted pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Text {
    LogInTo,
    ToContinueTo,
    Email,
    Password,
    Continue,
    VerifyIdentity,
    OtpInstructions,
    EmailInstructions,
    RecoveryInstructions,
    Code,
    RecoveryCode,
    TryAnotherMethod,
    ChooseMethod,
    Back,
    ChooseEnrollMethod,
    ResendCode,
    SecureAccount,
    ScanQr,
    CantScan,
    EnterFirstCode,
    SaveRecoveryCode,
    RecoveryCodeExplain,
    RecoveryCodeAlreadyShown,
    SavedIt,
    ErrorTitle,
    BackToApp,
    StartAgain,
    Redirecting,
    EnrollPhoneTitle,
    EnrollPhoneExplain,
    PhoneNumber,
    PhoneNumberHint,
    PhoneNumberExample,
    SendCodeBy,
    ByText,
    ByVoice,
    SendCode,
    SmsInstructions,
    VoiceInstructions,
    CallMeInstead,
    TextMeInstead,
    ChangeNumber,
    ChooseOrganization,
    EnterOrganization,
    OrganizationName,
    ConsentTitle,
    ConsentIntro,
    ConsentApi,
    Accept,
    Decline,
    ScopeProfile,
    ScopeEmail,
    ScopePhone,
    ScopeOfflineAccess,
}

/// The text in `lang` (`ja`, else English).
pub fn t(lang: &str, text: Text) -> &'static str {
    let ja = lang == "ja";
    match text {
        Text::LogInTo => {
            if ja {
                "ログイン"
            } else {
                "Log in"
            }
        }
        Text::ToContinueTo => {
            if ja {
                "続行するにはログインしてください:"
            } else {
                "to continue to"
            }
        }
        Text::Email => {
            if ja {
                "メールアドレス"
            } else {
                "Email address"
            }
        }
        Text::Password => {
            if ja {
                "パスワード"
            } else {
                "Password"
            }
        }
        Text::Continue => {
            if ja {
                "続行"
            } else {
                "Continue"
            }
        }
        Text::VerifyIdentity => {
            if ja {
                "本人確認"
            } else {
                "Verify your identity"
            }
        }
        Text::OtpInstructions => {
            if ja {
                "認証アプリに表示されている6桁のコードを入力してください。"
            } else {
                "Enter the 6-digit code shown in your authenticator app."
            }
        }
        Text::EmailInstructions => {
            if ja {
                "確認コードを送信しました:"
            } else {
                "We've sent a verification code to"
            }
        }
        Text::RecoveryInstructions => {
            if ja {
                "保存したリカバリーコードを入力してください。"
            } else {
                "Enter the recovery code you saved when you enrolled."
            }
        }
        Text::Code => {
            if ja {
                "コード"
            } else {
                "Code"
            }
        }
        Text::RecoveryCode => {
            if ja {
                "リカバリーコード"
            } else {
                "Recovery code"
            }
        }
        Text::TryAnotherMethod => {
            if ja {
                "別の方法を試す"
            } else {
                "Try another method"
            }
        }
        Text::Back => {
            if ja {
                "戻る"
            } else {
                "Back"
            }
        }
        Text::ChooseMethod => {
            if ja {
                "認証方法を選択してください"
            } else {
                "Choose how to verify your identity"
            }
        }
        Text::ChooseEnrollMethod => {
            if ja {
                "登録する認証方法を選択してください"
            } else {
                "Choose a method to add"
            }
        }
        Text::ResendCode => {
            if ja {
                "コードを再送信"
            } else {
                "Resend code"
            }
        }
        Text::SecureAccount => {
            if ja {
                "アカウントを保護する"
            } else {
                "Secure your account"
            }
        }
        Text::ScanQr => {
            if ja {
                "認証アプリ（Google Authenticator など）でこの QR コードを読み取ってください。"
            } else {
                "Scan this QR code with an authenticator app such as Google Authenticator."
            }
        }
        Text::CantScan => {
            if ja {
                "読み取れない場合は、このキーを手動で入力してください:"
            } else {
                "Can't scan it? Enter this key instead:"
            }
        }
        Text::EnterFirstCode => {
            if ja {
                "アプリに表示されたコードを入力してください。"
            } else {
                "Then enter the code the app shows."
            }
        }
        Text::SaveRecoveryCode => {
            if ja {
                "リカバリーコードを保存してください"
            } else {
                "Save your recovery code"
            }
        }
        Text::RecoveryCodeExplain => {
            if ja {
                "認証アプリを使えなくなったときは、このコードでログインできます。安全な場所に保管してください。このコードが表示されるのは今回だけです。"
            } else {
                "If you lose access to your authenticator, this code lets you log in. Keep it somewhere safe: it is shown only this once."
            }
        }
        Text::RecoveryCodeAlreadyShown => {
            if ja {
                "リカバリーコードはすでに表示されました。"
            } else {
                "Your recovery code was already shown."
            }
        }
        Text::SavedIt => {
            if ja {
                "保存しました"
            } else {
                "I have safely recorded this code"
            }
        }
        Text::ErrorTitle => {
            if ja {
                "エラーが発生しました"
            } else {
                "Something went wrong"
            }
        }
        Text::StartAgain => {
            if ja {
                "最初からやり直す"
            } else {
                "Start again"
            }
        }
        Text::BackToApp => {
            if ja {
                "アプリケーションに戻って、もう一度お試しください。"
            } else {
                "Go back to the application and try again."
            }
        }
        Text::Redirecting => {
            if ja {
                "アプリケーションに戻っています…"
            } else {
                "Returning to the application…"
            }
        }
        Text::EnrollPhoneTitle => {
            if ja {
                "電話番号を登録"
            } else {
                "Add your phone number"
            }
        }
        Text::EnrollPhoneExplain => {
            if ja {
                "ログインのたびに、この番号に確認コードをお送りします。"
            } else {
                "We'll send a verification code to this number when you log in."
            }
        }
        Text::PhoneNumber => {
            if ja {
                "電話番号"
            } else {
                "Phone number"
            }
        }
        Text::PhoneNumberHint => {
            if ja {
                "国番号から入力してください。日本の携帯電話なら先頭の 0 を除いて +81 を付けます（090-1234-5678 → +81 90-1234-5678）。"
            } else {
                "Include the country code, starting with + (for example +1 415 555 0100)."
            }
        }
        Text::PhoneNumberExample => {
            if ja {
                "+81 90-1234-5678"
            } else {
                "+1 415 555 0100"
            }
        }
        Text::SendCodeBy => {
            if ja {
                "コードの受け取り方法"
            } else {
                "How should we send the code?"
            }
        }
        Text::ByText => {
            if ja {
                "SMS（テキストメッセージ）"
            } else {
                "Text message (SMS)"
            }
        }
        Text::ByVoice => {
            if ja {
                "音声通話"
            } else {
                "Voice call"
            }
        }
        Text::SendCode => {
            if ja {
                "コードを送信"
            } else {
                "Send code"
            }
        }
        Text::SmsInstructions => {
            if ja {
                "確認コードを SMS で送信しました:"
            } else {
                "We've sent a text message with a verification code to"
            }
        }
        Text::VoiceInstructions => {
            if ja {
                "確認コードを音声通話でお伝えします:"
            } else {
                "We're calling you to read a verification code at"
            }
        }
        Text::ConsentTitle => {
            if ja {
                "アクセスの許可"
            } else {
                "Authorize App"
            }
        }
        Text::ConsentIntro => {
            if ja {
                "次のアプリケーションがあなたのアカウントへのアクセスを求めています:"
            } else {
                "This application is requesting access to your account:"
            }
        }
        Text::ConsentApi => {
            if ja {
                "対象の API:"
            } else {
                "On the API:"
            }
        }
        Text::Accept => {
            if ja {
                "許可する"
            } else {
                "Accept"
            }
        }
        Text::Decline => {
            if ja {
                "拒否する"
            } else {
                "Decline"
            }
        }
        Text::ScopeProfile => {
            if ja {
                "プロフィール (名前、ニックネーム、画像)"
            } else {
                "Your profile: name, nickname and picture"
            }
        }
        Text::ScopeEmail => {
            if ja {
                "メールアドレス"
            } else {
                "Your email address"
            }
        }
        Text::ScopePhone => {
            if ja {
                "電話番号"
            } else {
                "Your phone number"
            }
        }
        Text::ScopeOfflineAccess => {
            if ja {
                "ログインしていない間もアクセスする (リフレッシュトークン)"
            } else {
                "Access while you are not logged in (refresh tokens)"
            }
        }
        Text::EnterOrganization => {
            if ja {
                "組織名を入力してください"
            } else {
                "Enter your organization name"
            }
        }
        Text::OrganizationName => {
            if ja {
                "組織名"
            } else {
                "Organization name"
            }
        }
        Text::ChooseOrganization => {
            if ja {
                "組織を選択してください"
            } else {
                "Select your organization"
            }
        }
        Text::ChangeNumber => {
            if ja {
                "別の電話番号を使う"
            } else {
                "Use a different number"
            }
        }
        Text::CallMeInstead => {
            if ja {
                "音声通話で受け取る"
            } else {
                "Call me instead"
            }
        }
        Text::TextMeInstead => {
            if ja {
                "SMS で受け取る"
            } else {
                "Send a text message instead"
            }
        }
    }
}

/// A notice in `lang`.
pub fn notice(lang: &str, notice: Notice) -> &'static str {
    let ja = lang == "ja";
    match notice {
        Notice::WrongCredentials => {
            if ja {
                "メールアドレスまたはパスワードが正しくありません。"
            } else {
                "Wrong email or password."
            }
        }
        Notice::LoginBlocked => {
            if ja {
                "ログインの失敗が続いたため、このアカウントへのログインは一時的にブロックされています。しばらくしてからお試しください。"
            } else {
                "Your account has been blocked after multiple consecutive login attempts. Try again later."
            }
        }
        Notice::UserBlocked => {
            if ja {
                "このユーザーはブロックされています。"
            } else {
                "This user is blocked."
            }
        }
        Notice::InvalidCode => {
            if ja {
                "コードが正しくありません。"
            } else {
                "The code you entered is invalid."
            }
        }
        Notice::FactorBlocked => {
            if ja {
                "失敗が多すぎるため、この認証方法は一時的に使用できません。"
            } else {
                "Too many failed codes: this method is blocked for a while."
            }
        }
        Notice::CodeExpired => {
            if ja {
                "コードの有効期限が切れたため、新しいコードを送信しました。"
            } else {
                "The code expired; we sent you a new one."
            }
        }
        Notice::CodeSent => {
            if ja {
                "新しいコードを送信しました。"
            } else {
                "We sent you a new code."
            }
        }
        Notice::FormExpired => {
            if ja {
                "フォームの有効期限が切れました。もう一度お試しください。"
            } else {
                "The form expired. Please try again."
            }
        }
        Notice::TooManySends => {
            if ja {
                "コードの送信回数が多すぎます。数分待ってから再送信してください。"
            } else {
                "Too many codes were sent. Wait a few minutes before asking for another one."
            }
        }
        Notice::NotSent => {
            if ja {
                "コードを送信できませんでした。しばらくしてからもう一度お試しいただくか、別の方法を選択してください。"
            } else {
                "We could not send the code. Try again in a moment, or choose another method."
            }
        }
        Notice::ProviderExhausted => {
            if ja {
                "現在、このサービスからは SMS を送信できません。別の方法を選択してください。"
            } else {
                "This service cannot send text messages at the moment. Choose another method."
            }
        }
        Notice::ResendTooSoon => {
            if ja {
                "コードを送信したばかりです。少し待ってから再送信してください。"
            } else {
                "We just sent a code. Wait a few seconds before asking for another one."
            }
        }
        Notice::UnknownOrganization => {
            if ja {
                "その名前の組織は見つかりません。"
            } else {
                "We couldn't find an organization with that name."
            }
        }
        Notice::Delayed => {
            if ja {
                "コードの送信に時間がかかっています。引き続き送信を試みています。届かない場合は、再送信するか別の方法を選択してください。"
            } else {
                "The code is taking longer than usual to arrive; we keep trying. If it does not come, ask for a new one or choose another method."
            }
        }
        Notice::InvalidPhoneNumber => {
            if ja {
                "電話番号を国番号から入力してください（例: +81 90-1234-5678）。"
            } else {
                "Enter the number with its country code, starting with + (for example +81 90 1234 5678)."
            }
        }
    }
}

/// "You can ask for a new code in N seconds", in `lang`.
pub fn resend_in(lang: &str, seconds: i64) -> String {
    if lang == "ja" {
        format!("{seconds} 秒後にコードを再送信できます。")
    } else {
        format!("You can ask for a new code in {seconds} seconds.")
    }
}

/// A factor's name in `lang`.
pub fn factor_name(lang: &str, factor: FactorType) -> &'static str {
    let ja = lang == "ja";
    match factor {
        FactorType::Otp => {
            if ja {
                "認証アプリ"
            } else {
                "Authenticator app"
            }
        }
        FactorType::Email => {
            if ja {
                "メール"
            } else {
                "Email"
            }
        }
        FactorType::Phone => {
            if ja {
                "SMS または音声通話"
            } else {
                "SMS or voice call"
            }
        }
        FactorType::PushNotification => {
            if ja {
                "プッシュ通知"
            } else {
                "Push notification"
            }
        }
        FactorType::WebauthnPlatform => {
            if ja {
                "このデバイスの生体認証"
            } else {
                "This device's biometrics"
            }
        }
        FactorType::WebauthnRoaming => {
            if ja {
                "セキュリティキー"
            } else {
                "Security key"
            }
        }
        FactorType::RecoveryCode => {
            if ja {
                "リカバリーコード"
            } else {
                "Recovery code"
            }
        }
    }
}

/// The heading and one sentence of an error page, by error code: what happened in the user's words (the code itself
/// stays on the page, small, for support).
pub fn error_heading(lang: &str, code: &str) -> (&'static str, &'static str) {
    let ja = lang == "ja";
    match (code, ja) {
        ("access_denied", false) => ("Access denied", "You cannot sign in to this application with this account."),
        ("access_denied", true) => {
            ("アクセスできません", "このアカウントではこのアプリケーションにサインインできません。")
        }
        ("unauthorized_client", false) => {
            ("This application cannot sign you in", "The application is not set up to use this sign-in.")
        }
        ("unauthorized_client", true) => (
            "このアプリケーションではサインインできません",
            "アプリケーションの設定がこのサインインに対応していません。",
        ),
        ("server_error", false) => {
            ("Something went wrong on our side", "It is not something you did. Please try again.")
        }
        ("server_error", true) => {
            ("サーバーで問題が発生しました", "お客様の操作が原因ではありません。もう一度お試しください。")
        }
        ("temporarily_unavailable", false) => ("Please try again in a moment", "The service is briefly unavailable."),
        ("temporarily_unavailable", true) => ("しばらくしてからお試しください", "サービスが一時的に利用できません。"),
        ("Transaction has expired", false) => {
            ("This sign-in has expired", "It took too long or was already completed. Start again from the application.")
        }
        ("Transaction has expired", true) => (
            "このサインインは期限切れです",
            "時間がかかりすぎたか、すでに完了しています。アプリケーションからやり直してください。",
        ),
        (_, false) => ("This sign-in link does not work", "The application sent a request we could not accept."),
        (_, true) => {
            ("このサインインのリンクは使えません", "アプリケーションからのリクエストを受け付けられませんでした。")
        }
    }
}

/// The page `/v2/logout` shows when the application gave no `returnTo`.
pub fn logged_out(lang: &str) -> (&'static str, &'static str) {
    if lang == "ja" {
        ("サインアウトしました", "このブラウザでのサインインは終了しました。このウィンドウを閉じてかまいません。")
    } else {
        ("You are signed out", "Your session in this browser has ended. You can close this window.")
    }
}

/// One line under each factor of the picker: what choosing it does.
pub fn factor_hint(lang: &str, factor: FactorType) -> &'static str {
    let ja = lang == "ja";
    match (factor, ja) {
        (FactorType::Otp, false) => "A 6-digit code from an app such as Google Authenticator",
        (FactorType::Otp, true) => "Google Authenticator などのアプリに表示される6桁のコード",
        (FactorType::Email, false) => "A code sent to your email address",
        (FactorType::Email, true) => "メールアドレスに届くコード",
        (FactorType::Phone, false) => "A code by text message or a voice call",
        (FactorType::Phone, true) => "SMS または音声通話で届くコード",
        (FactorType::RecoveryCode, false) => "The code you saved when you set up MFA",
        (FactorType::RecoveryCode, true) => "MFA の設定時に保存したコード",
        (FactorType::PushNotification, false) => "Approve a notification on your phone",
        (FactorType::PushNotification, true) => "スマートフォンの通知を承認します",
        (FactorType::WebauthnPlatform, false) => "Your fingerprint, face or screen lock",
        (FactorType::WebauthnPlatform, true) => "指紋・顔認証・画面ロック",
        (FactorType::WebauthnRoaming, false) => "A USB or NFC security key",
        (FactorType::WebauthnRoaming, true) => "USB または NFC のセキュリティキー",
    }
}
